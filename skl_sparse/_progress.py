"""``verbose`` progress over the items of a long loop (mini-batches, epochs)."""


def progress(items, *, verbose, desc):
    """Iterate ``items``, showing progress when ``verbose >= 2``.

    A tqdm bar when tqdm is installed, else a line at every tenth of the way.
    """
    items = list(items)
    if verbose < 2 or not items:
        return items
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _progress_lines(items, desc)
    return tqdm(items, desc=desc, leave=False)


def _progress_lines(items, desc):
    step = max(1, len(items) // 10)
    for i, item in enumerate(items, 1):
        yield item
        if i % step == 0 or i == len(items):
            print(f"{desc}: {i}/{len(items)}", flush=True)
