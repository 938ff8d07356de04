// glibc's malloc tuning (mallopt(3), malloc_trim(3)) for Swift, which
// Glibc's module does not bring in. This header only names them.
#ifndef CMALLOC_H
#define CMALLOC_H

#include <malloc.h>

#endif
