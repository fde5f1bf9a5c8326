// The runtime's side: versions, devices, and the launch helper of the other units.
#include <cuda_runtime.h>

#include "kernels.h"

// A compile-time constant: needs neither driver nor device.
int hello_build_version()
{
    return CUDART_VERSION;
}

int hello_device_count()
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); // no driver or no device: clear the error, report none
        return 0;
    }
    return n;
}

bool hello_run_on_device(void (*kernel)(const long long *, const long long *, long long *),
                         long long a, long long b, long long *out)
{
    if (hello_device_count() == 0)
        return false;
    long long *d = nullptr;
    long long h[2] = {a, b};
    if (cudaMalloc(reinterpret_cast<void **>(&d), 3 * sizeof(long long)) != cudaSuccess)
        return false;
    bool ok = cudaMemcpy(d, h, sizeof h, cudaMemcpyHostToDevice) == cudaSuccess;
    if (ok) {
        kernel(d, d + 1, d + 2);
        ok = cudaMemcpy(out, d + 2, sizeof *out, cudaMemcpyDeviceToHost) == cudaSuccess;
    }
    cudaFree(d);
    if (!ok)
        cudaGetLastError();
    return ok;
}
