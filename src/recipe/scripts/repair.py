# auditwheel for build.sh, started before the build so that its start-up (about 130 ms
# of imports, more than the repair of a small wheel) overlaps the build:
#   python3 -c "$(cat repair.py)" FIFO PLAT OUT [EXCLUDE...]
# Imports auditwheel, then reads the wheels to repair from FIFO (NUL-terminated paths,
# then an empty one) and repairs each in a child forked from this warmed process, as
# `python3 -m auditwheel repair --plat PLAT -w OUT --exclude EXCLUDE... WHEEL` would.
# Exit status: 0 all repaired; 1 a repair failed (auditwheel's output says why); 3 auditwheel
# cannot be imported (build.sh then runs it the plain way, so that its own error shows).
import os
import sys
import traceback

fifo, plat, out, *excludes = sys.argv[1:]
try:
    from importlib import metadata

    import auditwheel.main
    import auditwheel.repair
    import auditwheel.wheel_abi

    # `main` asks for its version first thing: warm importlib.metadata's caches too.
    metadata.version("auditwheel")
except BaseException:
    sys.exit(3)

stream = b""
with open(fifo, "rb", buffering=0) as f:
    while stream != b"\0" and not stream.endswith(b"\0\0"):
        chunk = f.read(65536)
        if not chunk:
            sys.exit(1)
        stream += chunk
wheels = [w.decode("utf-8", "surrogateescape") for w in stream[:-1].split(b"\0") if w]

args = ["repair", "--plat", plat, "-w", out]
for pattern in excludes:
    args += ["--exclude", pattern]
prog = os.path.join(os.path.dirname(auditwheel.main.__file__), "__main__.py")
for wheel in wheels:
    print(f"::wheelbuild:: repair: {os.path.basename(wheel)} for {plat}", flush=True)
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            sys.argv = [prog, *args, wheel]
            result = auditwheel.main.main()
            code = 0 if result is None else result
        except SystemExit as e:
            if e.code is None or isinstance(e.code, int):
                code = e.code or 0
            else:
                print(e.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(1)
