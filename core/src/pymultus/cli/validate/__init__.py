"""The checks of ``pymultus validate``, one module per kind of input.

:mod:`.schema` is a NAD as the API server sees it (CRD schema, metadata), with no
state, so ``dry-run`` shares it; :mod:`.findings` is the accumulator every other
check reports into; :mod:`.configs` checks CNI configurations (netconfs, conflists,
a NAD's ``spec.config``, each plugin); :mod:`.pods` the annotations of pods and
workloads; :mod:`.documents` sends each document of the files to its check. The
subcommand itself (arguments, output) is :mod:`pymultus.cli.cmd_validate`.
"""
