// Tiny HIP translation unit: a real __global__ kernel plus host functions
// that are safe to call on machines without an AMD GPU (no /dev/kfd).
#include <hip/hip_runtime.h>

__global__ void hello_add_kernel(const long long *a, const long long *b, long long *out)
{
    *out = *a + *b;
}

extern "C" {

// HIP version the extension was compiled against (50221153 for Debian's
// 5.2.3: major * 10^7 + minor * 10^5 + patch): a compile-time constant.
int hello_rocm_build_version(void)
{
    return HIP_VERSION;
}

// Version of the loaded libamdhip64, 0 when it cannot tell. HIP 5.2 answers
// this without a GPU.
int hello_rocm_runtime_version(void)
{
    int v = 0;
    if (hipRuntimeGetVersion(&v) != hipSuccess) {
        (void)hipGetLastError();
        return 0;
    }
    return v;
}

// "Driver" version as HIP reports it (on ROCm the same number as the runtime).
int hello_rocm_driver_version(void)
{
    int v = 0;
    if (hipDriverGetVersion(&v) != hipSuccess) {
        (void)hipGetLastError();
        return 0;
    }
    return v;
}

// Name of the hipError_t that hipGetDeviceCount() returns: "hipSuccess" with
// a GPU, "hipErrorNoDevice" without one (no /dev/kfd).
const char *hello_rocm_device_status(void)
{
    int n = 0;
    hipError_t e = hipGetDeviceCount(&n);
    (void)hipGetLastError(); // clear the error state
    return hipGetErrorName(e);
}

// Number of visible HIP devices; 0 on machines without an AMD GPU.
int hello_rocm_device_count(void)
{
    int n = 0;
    if (hipGetDeviceCount(&n) != hipSuccess) {
        (void)hipGetLastError();
        return 0;
    }
    return n;
}

// a + b: computed by the kernel when a GPU is present, else on the host.
long long hello_rocm_add(long long a, long long b)
{
    if (hello_rocm_device_count() > 0) {
        long long *d = 0, out = 0;
        long long h[2] = {a, b};
        if (hipMalloc((void **)&d, 3 * sizeof(long long)) == hipSuccess) {
            int ok = hipMemcpy(d, h, 2 * sizeof(long long), hipMemcpyHostToDevice) == hipSuccess;
            if (ok) {
                hipLaunchKernelGGL(hello_add_kernel, dim3(1), dim3(1), 0, 0, d, d + 1, d + 2);
                ok = hipGetLastError() == hipSuccess &&
                     hipMemcpy(&out, d + 2, sizeof(long long), hipMemcpyDeviceToHost) == hipSuccess;
            }
            (void)hipFree(d);
            if (ok)
                return out;
        }
        (void)hipGetLastError();
    }
    return a + b;
}

} // extern "C"
