//! Wheels out of a finished build container: `/wheelbuild/out` as a tar stream, spooled
//! to disk (bounded), extracted safely, each wheel checked against its RECORD and the
//! target's Python and platform.

use futures::StreamExt;

use crate::accel::Accel;
use crate::docker::Engine;
use crate::exec::spec::BuildSpec;
use crate::exec::{BuildError, io_err, paths};
use crate::store::{Staging, WheelRecord};
use crate::wheel;

/// The most a build's output may hold: CUDA wheels run to hundreds of MB, not this.
const MAX_OUTPUT: u64 = 16 << 30;

/// The checked wheels of a build, and what its user should look at about them.
pub(super) struct Collected {
    pub wheels: Vec<WheelRecord>,
    pub warnings: Vec<String>,
}

/// What the wheels of a repaired build are checked against.
struct Repaired {
    /// SONAME globs no wheel may have grafted into it.
    exclude: Vec<String>,
    /// The config's own globs, each expected to match a library the wheels link.
    declared: Vec<String>,
    /// The manylinux tag the wheels must carry at most.
    tag: String,
}

/// Take the wheels out of `container`'s output directory and check each against `spec`.
pub(super) async fn collect(
    engine: &Engine,
    container: &str,
    spec: &BuildSpec<'_>,
    staging: &Staging,
) -> Result<Collected, BuildError> {
    let tar_path = staging.path().join("out.tar");
    {
        let mut file = tokio::fs::File::create(&tar_path)
            .await
            .map_err(|e| io_err("spooling the output archive", e))?;
        let mut stream = std::pin::pin!(engine.download(container, paths::OUT).await?);
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            if size > MAX_OUTPUT {
                return Err(io_err(
                    "spooling the output archive",
                    format!("the build's output exceeds {} GiB", MAX_OUTPUT >> 30),
                ));
            }
            tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                .await
                .map_err(|e| io_err("spooling the output archive", e))?;
        }
        tokio::io::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(|e| io_err("spooling the output archive", e))?;
    }
    let wheels_dir = staging.wheels_dir();
    let inputs = &spec.inputs;
    let python = inputs.axes.get("python").unwrap_or_default().to_string();
    let family = match spec.accel() {
        Accel::Cpu => None,
        Accel::Cuda(_) => Some((wheel::GpuFamily::Cuda, "CUDA")),
        Accel::Rocm(_) => Some((wheel::GpuFamily::Rocm, "ROCm")),
    };
    let built_platform = spec.wheel_platform().unwrap_or_default();
    // A repaired platform wheel must be tagged for the image's glibc at most.
    let repair = match &inputs.repair {
        Some(r) => Some(Repaired {
            exclude: r.exclude.to_vec(),
            declared: spec.non_key.declared_excludes.to_vec(),
            tag: super::manylinux_tag(spec)?,
        }),
        None => None,
    };
    let local_version = inputs.local_version.as_deref().map(str::to_string);
    let variant = inputs
        .variant
        .as_ref()
        .map(|v| (v.label.to_string(), v.json.to_string()));
    let (records, warnings) = tokio::task::spawn_blocking(move || -> Result<_, BuildError> {
        let relabel = wheel::Relabel {
            local_version: local_version.as_deref(),
            variant: variant
                .as_ref()
                .map(|(label, json)| (label.as_str(), json.as_bytes())),
        };
        let file =
            std::fs::File::open(&tar_path).map_err(|e| io_err("reading the output archive", e))?;
        let names = wheel::extract_wheels(std::io::BufReader::new(file), &wheels_dir, MAX_OUTPUT)?;
        let _ = std::fs::remove_file(&tar_path);
        if names.is_empty() {
            return Err(BuildError::NoWheel);
        }
        let mut records = Vec::new();
        let mut warnings = Vec::new();
        let mut needed = Vec::new();
        for name in names {
            let path = wheels_dir.join(&name);
            let mut info = wheel::check_wheel(&path)?;
            let platform_wheel = !info.name.platform.iter().all(|p| p == "any");
            let platform = match &repair {
                Some(r) if platform_wheel => {
                    if let Some(tag) = info.name.platform.iter().find(|p| p.starts_with("linux_")) {
                        return Err(BuildError::NotRepaired {
                            file: name.clone(),
                            tag: tag.clone(),
                        });
                    }
                    let linked = wheel::repair::linked(&path)?;
                    for library in &linked.grafted {
                        if let Some(pattern) = r
                            .exclude
                            .iter()
                            .find(|p| wheel::repair::matches(p, library))
                        {
                            return Err(BuildError::Grafted {
                                file: name.clone(),
                                library: library.clone(),
                                pattern: pattern.clone(),
                            });
                        }
                    }
                    needed.extend(linked.needed);
                    r.tag.as_str()
                }
                _ => built_platform.as_str(),
            };
            info.name
                .fits(&python, platform)
                .map_err(|e| BuildError::WrongWheel {
                    file: name.clone(),
                    detail: e.to_string(),
                })?;
            // A wheel with compiled code but none for the cell's GPU: a silent
            // CPU-only build. Pure wheels are what they say they are.
            if let Some((family, label)) = family
                && !info.name.platform.iter().all(|p| p == "any")
                && wheel::gpu_evidence(&path, family)?.is_none()
            {
                warnings.push(format!(
                    "{name} was built in a {label} cell but contains no {label} code \
                         (no device code, links no {label} runtime library): a CPU-only build?"
                ));
            }
            let mut name = name;
            if !relabel.is_empty() {
                // Relabelled after every check of the wheel as built; the result is
                // checked again like any wheel.
                let new = wheel::relabel(&path, &relabel)?;
                info = wheel::check_wheel(&new)?;
                std::fs::remove_file(&path)
                    .map_err(|e| io_err("removing the wheel as built", e))?;
                name = info.name.to_string();
            }
            records.push(WheelRecord {
                file: name,
                sha256: info.sha256,
                size: info.size,
            });
        }
        // A declared exclude that matches nothing the wheels link is most likely a
        // typo (or a versionless `libfoo.so`): the library it meant may be grafted.
        if let Some(r) = &repair
            && !needed.is_empty()
        {
            for pattern in &r.declared {
                if !needed.iter().any(|n| wheel::repair::matches(pattern, n)) {
                    warnings.push(format!(
                        "repair-exclude `{pattern}` matches no library the wheels link ({})",
                        needed.join(", ")
                    ));
                }
            }
        }
        Ok((records, warnings))
    })
    .await
    .map_err(|e| io_err("checking wheels", e))??;
    Ok(Collected {
        wheels: records,
        warnings,
    })
}
