"""The optional native part: cairn._md5x (md5 of many files at once). Without a C compiler the
install goes on without it, and the server hashes md5 with hashlib instead."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "cairn._md5x",
            sources=["src/cairn/_md5x.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
