"""CUDA graphs: a step captured once and replayed on new inputs, one launch instead of
the many small kernels of an eager step."""

import torch


def capture_cuda_graph(fn, x):
    """Run ``fn(x)`` for real, then capture it as a CUDA graph to replay on new inputs.

    ``fn`` must work on fixed shapes with no host synchronisation and keep its
    state in tensors it updates in place. The first call runs eagerly on a side
    stream (it also warms up cuBLAS, as capture requires); the capture records
    the same kernels without running them.

    Returns
    -------
    out : the output of the real call.
    replay : callable ``x_new -> output`` (one graph launch), or None where
        the capture failed (the caller stays eager).
    """
    device = x.device
    static_x = x.clone()
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        out = fn(static_x)
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            static_out = fn(static_x)
    except RuntimeError:
        return out, None

    def replay(x_new):
        static_x.copy_(x_new)
        graph.replay()
        return static_out.clone()

    return out, replay
