// Tiny CUDA translation unit: a real __global__ kernel plus host functions
// that are safe to call on machines without a GPU or NVIDIA driver.
#include <cuda_runtime.h>

__global__ void hello_add_kernel(const long long *a, const long long *b, long long *out)
{
    *out = *a + *b;
}

extern "C" {

// CUDA version the extension was compiled against (11080 for 11.8): a
// compile-time constant, so it needs neither driver nor device.
int hello_cuda_build_version(void)
{
    return CUDART_VERSION;
}

// Version of the loaded libcudart, 0 when it cannot tell: with CUDA 11.8,
// cudaRuntimeGetVersion() fails with cudaErrorInsufficientDriver when no
// NVIDIA driver (libcuda.so.1) is present.
int hello_cuda_runtime_version(void)
{
    int v = 0;
    if (cudaRuntimeGetVersion(&v) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return v;
}

// Driver's CUDA version, 0 when no driver is installed.
int hello_cuda_driver_version(void)
{
    int v = 0;
    if (cudaDriverGetVersion(&v) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return v;
}

// Number of visible CUDA devices; 0 on machines without GPU/driver.
int hello_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); // clear the sticky error
        return 0;
    }
    return n;
}

// a + b: computed by the kernel when a GPU is present, else on the host.
long long hello_cuda_add(long long a, long long b)
{
    if (hello_cuda_device_count() > 0) {
        long long *d = 0, out = 0;
        long long h[2] = {a, b};
        if (cudaMalloc((void **)&d, 3 * sizeof(long long)) == cudaSuccess) {
            int ok = cudaMemcpy(d, h, 2 * sizeof(long long), cudaMemcpyHostToDevice) == cudaSuccess;
            if (ok) {
                hello_add_kernel<<<1, 1>>>(d, d + 1, d + 2);
                ok = cudaMemcpy(&out, d + 2, sizeof(long long), cudaMemcpyDeviceToHost) == cudaSuccess;
            }
            cudaFree(d);
            if (ok)
                return out;
        }
        cudaGetLastError();
    }
    return a + b;
}

} // extern "C"
