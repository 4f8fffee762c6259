"""Root-cause correlation: which infrastructure metrics moved with a failure, ranked with their evidence.

**Input.** A wide frame: one time axis and one column per metric, from a CSV
file (:func:`read_metrics_csv`) or from the metrics store around an incident
or a flow run (:mod:`ops.correlate.service`). Counters become per-second
rates; short gaps take the last value; empty, sparse and constant columns are
left out and reported. The failure is an instant inside the data; an
optional target column (the failure's own signal, such as a latency) may be
named.

**Evidence per series,** computed for every series at once over numpy arrays
(:mod:`ops.correlate.stats`):

1. *When it changed.* The single mean-shift change point: the split that
   maximises the standardised CUSUM statistic, which equals the correlation of
   the series with a step at that split (a closed form over cumulative sums,
   one pass for all series, where a change-point library would loop per
   series); and the onset, the first row more than 4 robust σ off the
   baseline for two rows running (the start of a ramp, where the change
   point sits in its middle). The onset is *leading* when it falls more than
   2 % of the rows (at least two rows) before the failure, *lagging* when it
   falls that far after, else *simultaneous*. A series that began to move
   well before the failure and moved again at it is measured on the second
   move.
2. *How far it moved.* The robust z: the median after the change (or the
   failure, whichever comes first) minus the median before it, over the
   baseline's MAD × 1.4826, floored by the baseline's quantum (its median
   non-zero step) so that flat, quantised series are measured in their own
   steps, and (when the MAD is 0) by half its mean absolute deviation so that a sparse series is
   measured against its spikes. A latency that is zero in a quarter of the
   rows or more is measured on its answered minutes only.
3. *Lagged cross-correlation* with the failure signal — a step at the failure,
   whose best lag is the change point itself — or, with a target, with the
   target over lags up to 20 % of the window (FFT).
4. *Granger causality* (statsmodels, SSR F test on first differences,
   Bonferroni over lags 1..5, on the 2,000 rows nearest the failure) of the
   best five suspects on the target, when a target is given and the data
   allow; otherwise the evidence says why there is no test.

**Score** (:mod:`ops.correlate.rank`): ``log10(1 + |z|)`` (``|z|`` capped
at 30 for a symptom whose baseline sat still, such as a sparse latency),
times 0.1 when a resource's usage fell (resources cause failures by running
out, so their usage rises; free or available bytes that rose count as usage
that fell), times 0.25 when the change lagged the failure and 0.3 when it led
it while another series stepped at the failure (an earlier incident), times
0.5 for a symptom (latency, load) of a service whose own resource rose at
the failure, times a risen latency's relative rise over the largest relative
latency rise (a caller carries its callee's delay), times
``0.5 + 0.5 |r|`` for the
correlation, times 1.25 when Granger is significant, and, for a resource
whose level moved by less than 5 % of its baseline, times
``change / 5 %`` (a flat memory series a few pages up, or a host's memory 1 %
up, is many of its own sigmas away, yet it is not what ran out). Every factor
is kept in the evidence. One set of settings (:class:`CorrelateConfig`) serves
every dataset; nothing is tuned per case.

**Resource.** :func:`resource_of` names the resource a metric measures (cpu,
memory, network, disk) from its name; the top suspect's resource is a clue
for the runbook match.
"""

from ops.correlate.frame import parse_instant, prepare_frame, read_metrics_csv
from ops.correlate.models import (
    CorrelateConfig,
    Correlation,
    CorrelationResult,
    Evidence,
    Granger,
    Skipped,
    Suspect,
    WideFrame,
)
from ops.correlate.rank import correlate_frame, correlate_prepared
from ops.correlate.resources import resource_of

__all__ = [
    "CorrelateConfig",
    "Correlation",
    "CorrelationResult",
    "Evidence",
    "Granger",
    "Skipped",
    "Suspect",
    "WideFrame",
    "correlate_frame",
    "correlate_prepared",
    "parse_instant",
    "prepare_frame",
    "read_metrics_csv",
    "resource_of",
]
