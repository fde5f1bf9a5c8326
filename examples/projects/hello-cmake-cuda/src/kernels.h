// Host entry points of the .cu units.
#pragma once

#include <vector>

long long hello_add(long long a, long long b);
long long hello_scale(long long a, long long factor);
std::vector<long long> hello_sort(std::vector<long long> values);
int hello_build_version();
int hello_device_count();

// Runs `kernel` on one long long argument pair on the GPU; false without one (or on any
// CUDA error), so that the caller computes on the host.
bool hello_run_on_device(void (*kernel)(const long long *, const long long *, long long *),
                         long long a, long long b, long long *out);
