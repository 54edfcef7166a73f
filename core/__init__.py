"""The toolbox every package imports (and which imports none of them): the CLI kernel and dispatcher
(``cli``), params loading and checking (``config``), environment defaults applied at entry (``env``),
atomic file I/O (``io``), child processes (``processes``: servers; ``workers``: pools that die with
their parent)."""
