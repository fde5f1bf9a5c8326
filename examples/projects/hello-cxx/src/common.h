// Shared by every unit: enough of the standard library that each compile takes a
// noticeable time, as a real project's units do.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <numeric>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace hello_cxx {

template <typename T>
std::int64_t fold(const std::vector<T> &values, std::int64_t seed)
{
    std::map<T, std::int64_t> counts;
    for (const T &v : values) counts[v] += 1;
    std::unordered_map<std::string, std::int64_t> names;
    for (const auto &[v, n] : counts) {
        std::ostringstream s;
        s << v << ':' << n;
        names[s.str()] = n;
    }
    std::vector<std::int64_t> sums;
    for (const auto &[name, n] : names) sums.push_back(static_cast<std::int64_t>(name.size()) * n);
    std::sort(sums.begin(), sums.end(), std::greater<std::int64_t>());
    return std::accumulate(sums.begin(), sums.end(), seed);
}

std::int64_t unit00(std::int64_t n);
std::int64_t unit01(std::int64_t n);
std::int64_t unit02(std::int64_t n);
std::int64_t unit03(std::int64_t n);
std::int64_t unit04(std::int64_t n);
std::int64_t unit05(std::int64_t n);
std::int64_t unit06(std::int64_t n);
std::int64_t unit07(std::int64_t n);
std::int64_t unit08(std::int64_t n);
std::int64_t unit09(std::int64_t n);
std::int64_t unit10(std::int64_t n);

}  // namespace hello_cxx
