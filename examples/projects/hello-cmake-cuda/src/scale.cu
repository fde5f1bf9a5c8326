#include "kernels.h"

__global__ void hello_scale_kernel(const long long *a, const long long *factor, long long *out)
{
    *out = *a * *factor;
}

static void launch_scale(const long long *a, const long long *factor, long long *out)
{
    hello_scale_kernel<<<1, 1>>>(a, factor, out);
}

long long hello_scale(long long a, long long factor)
{
    long long out = 0;
    return hello_run_on_device(launch_scale, a, factor, &out) ? out : a * factor;
}
