#include "common.h"

namespace hello_cxx {

std::int64_t unit05(std::int64_t n)
{
    std::vector<long> longs;
    std::vector<double> doubles;
    std::vector<std::string> strings;
    for (std::int64_t i = 0; i < n; ++i) {
        longs.push_back((i * 105) % 97);
        doubles.push_back(static_cast<double>(i % 13) / 4.0 + 105);
        strings.push_back(std::to_string(i % 7 + 105));
    }
    return fold(longs, 105) + fold(doubles, 0) + fold(strings, 0);
}

}  // namespace hello_cxx
