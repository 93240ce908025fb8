"""``python -m stage.llm.serve_llama ARGS``: llama-cpp-python's server with weight repacking off.

llama.cpp repacks weights into "extra buffer types" for the CPU it finds; on Xeons with AMX the repacked
kernel for this model's Q4_1 weights crashes at the first decode (SIGSEGV in ``ggml_backend_amx_mul_mat``,
seen on the project's own machines: the embedded model died on every call). llama-cpp-python's server has no
option for it, so this launcher turns it off in the model's default parameters and then runs that server.
Repacking only pays for large batches; a 135M model's turns do not notice it.
"""

from __future__ import annotations

from typing import Any


def _no_repack() -> None:
    import llama_cpp.llama_cpp as bindings

    default = bindings.llama_model_default_params

    def params() -> Any:
        p = default()
        p.use_extra_bufts = False
        return p

    bindings.llama_model_default_params = params


def main() -> None:
    _no_repack()
    from llama_cpp.server.__main__ import main as serve

    serve()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
