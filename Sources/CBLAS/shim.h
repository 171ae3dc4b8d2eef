#pragma once
#include <cblas.h>
// OpenBLAS extension: we split work across our own threads and keep BLAS single-threaded.
void openblas_set_num_threads(int num_threads);
