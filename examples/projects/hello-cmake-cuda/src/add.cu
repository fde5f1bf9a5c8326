#include "kernels.h"

__global__ void hello_add_kernel(const long long *a, const long long *b, long long *out)
{
    *out = *a + *b;
}

static void launch_add(const long long *a, const long long *b, long long *out)
{
    hello_add_kernel<<<1, 1>>>(a, b, out);
}

long long hello_add(long long a, long long b)
{
    long long out = 0;
    return hello_run_on_device(launch_add, a, b, &out) ? out : a + b;
}
