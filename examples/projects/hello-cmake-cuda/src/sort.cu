// The heavy unit, as real CUDA projects have them: thrust's radix sort instantiates many
// kernels, so nvcc takes a while over this file (and longer for each architecture).
#include <algorithm>

#include <thrust/device_vector.h>
#include <thrust/sort.h>

#include "kernels.h"

std::vector<long long> hello_sort(std::vector<long long> values)
{
    if (hello_device_count() == 0) {
        std::sort(values.begin(), values.end());
        return values;
    }
    thrust::device_vector<long long> d(values.begin(), values.end());
    thrust::sort(d.begin(), d.end());
    thrust::copy(d.begin(), d.end(), values.begin());
    return values;
}
