"""System utilities below every other layer (no NumPy, no Qt): the memory budget
(:mod:`explorer.util.ram`), the BLAS thread limit (:mod:`explorer.util.threads`) and the shipped
files (:mod:`explorer.util.assets`)."""
