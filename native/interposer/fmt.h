// Text formatting without libc's stdio (which may allocate): for file names and the stats
// line, written from inside the allocator. Each appends to [p, end) and returns the new end.
#pragma once
#include <stdint.h>

namespace mpfmt {

inline char* put_str(char* p, char* end, const char* s) {
  while (*s && p < end) *p++ = *s++;
  return p;
}

inline char* put_u64(char* p, char* end, uint64_t v) {
  char tmp[24];
  int n = 0;
  do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n && p < end) *p++ = tmp[--n];
  return p;
}

}  // namespace mpfmt
