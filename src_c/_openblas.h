/* Prototypes of the OpenBLAS shipped in the scipy-openblas32 wheel (symbols
 * carry a scipy_ prefix so that they never clash with another BLAS in the
 * process). 32-bit integers (LP64). OpenBLAS implements the Fortran interface
 * in C, so no hidden string-length arguments follow the char pointers. */
#ifndef FASTNN_OPENBLAS_H
#define FASTNN_OPENBLAS_H
void scipy_sgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
                  const float *alpha, const float *a, const int *lda, const float *b, const int *ldb,
                  const float *beta, float *c, const int *ldc);
void scipy_dgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
                  const double *alpha, const double *a, const int *lda, const double *b,
                  const int *ldb, const double *beta, double *c, const int *ldc);
void scipy_sgemv_(const char *trans, const int *m, const int *n, const float *alpha, const float *a,
                  const int *lda, const float *x, const int *incx, const float *beta, float *y,
                  const int *incy);
void scipy_dgemv_(const char *trans, const int *m, const int *n, const double *alpha, const double *a,
                  const int *lda, const double *x, const int *incx, const double *beta, double *y,
                  const int *incy);
void scipy_openblas_set_num_threads(int n);
int scipy_openblas_get_num_threads(void);
#endif
