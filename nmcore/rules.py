"""Routers and Silences, compiled once per snapshot into indexes so routing an alert looks them up.

A selector that requires a label value (`matchLabels`, or an `In` expression) is filed under that
(label, value) pair, one that only requires a label (`Exists`, or a `Match` the empty value fails) under that
label, the `Match`es on one label behind one regex joining theirs: an alert finds the Routers and Silences that
may match it through its own labels. Only selectors that require nothing (`NotIn`, `DoesNotExist`, empty) are tried
on every alert. With 1,000 Routers each naming its alertname, an alert tries one, not 1,000.

- A Router sends the alerts its `alertSelector` matches to the receivers it names (by name, `regexName` on the
  whole name, a label selector on the receiver's labels, or every receiver of a tenant), narrowed by channel
  `type` (case-insensitive). Routers are cluster-scoped admin objects: the only way an alert reaches a tenant
  receiver whose user cannot access its namespace. The receivers of each Router are resolved when the snapshot
  is built, not per alert.
- `routePolicy` (the NotificationManager's): `All` sends to the Routers' receivers and to those tenancy entitles;
  `RouterFirst` to the Routers' receivers when any Router matched, else to tenancy's; `RouterOnly` only to the
  Routers' receivers.
- A Silence labelled as global mutes every receiver; one labelled as a tenant's (`type: tenant`, `user: X`, or
  the NotificationManager's selectors) mutes only X's tenant receivers, never another tenant's nor a global
  receiver. When each Silence is active is computed from the clock routing is given, and kept until the next
  moment any of them starts or ends.
"""

import datetime
import math
import re
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

import attrs

from nmcore import v2beta2
from nmcore.resources import LabelSelector, Resource


class Target(Protocol):
    """A receiver that can send (nmcore.snapshot.Target, which builds on this module)."""

    @property
    def receiver(self) -> Resource: ...
    @property
    def channel(self) -> str: ...
    @property
    def tenant(self) -> str: ...

T = TypeVar("T")
Pair = tuple[str, str]


def _required_pairs(selector: LabelSelector) -> list[Pair] | None:
    """(label, value) pairs one of which every alert the selector matches has; None when there are none."""
    if selector.match_labels:
        return [min(selector.match_labels.items())]
    for expression in selector.match_expressions:
        if expression.operator == "In":
            # each value once: one given twice would file the selector twice, and find it twice
            return [(expression.key, value) for value in sorted(set(expression.values))]
    return None


def _required_key(selector: LabelSelector) -> tuple[str, str | None] | None:
    """A label every alert the selector matches has: (key, None) for `Exists`, (key, regex) for a `Match` whose
    regex the empty value (a missing label) fails."""
    for expression in selector.match_expressions:
        if expression.operator == "Exists":
            return expression.key, None
        regex = getattr(expression, "regex_value", "")
        if expression.operator == "Match" and v2beta2.pattern(regex).fullmatch("") is None:
            return expression.key, regex
    return None


_BACKREFERENCE = re.compile(r"\\[1-9]|\(\?P=")


def _gate(regexes: Sequence[str]) -> Callable[[str], object] | None:
    """One regex matching what any of `regexes` matches, so a label value none of them takes skips them all at
    once; None when they cannot be joined (a back-reference, a flag not at the start)."""
    if len(regexes) < 2 or any(_BACKREFERENCE.search(r) for r in regexes):
        return None
    try:
        return re.compile("|".join(f"(?:{r})" for r in regexes)).fullmatch
    except re.error:
        return None


Predicate = Callable[[Mapping[str, str]], bool]


def predicate(selector: LabelSelector) -> Predicate:
    """The selector as one closure: what the index calls per candidate (`LabelSelector.matches` walks its terms
    through generic code, four times slower; the property tests hold both to the Kubernetes definition)."""
    checks: list[Predicate] = [_equals(k, v) for k, v in selector.match_labels.items()]
    checks += [_term(e.key, e.operator, frozenset(e.values), getattr(e, "regex_value", ""))
               for e in selector.match_expressions]
    if len(checks) == 1:
        return checks[0]
    return lambda labels: all(check(labels) for check in checks)


def _equals(key: str, value: str) -> Predicate:
    return lambda labels: labels.get(key) == value


def _term(key: str, operator: str, values: frozenset[str], regex: str) -> Predicate:
    if operator == "In":
        return lambda labels: labels.get(key) in values
    if operator == "NotIn":
        return lambda labels: labels.get(key) not in values
    if operator == "Exists":
        return lambda labels: key in labels
    if operator == "DoesNotExist":
        return lambda labels: key not in labels
    full = v2beta2.pattern(regex).fullmatch
    return lambda labels: full(labels.get(key, "")) is not None


class SelectorIndex(Generic[T]):
    """Items, each with a selector on labels; `matching(labels)` tries only those the labels can match: a
    selector is filed under a (label, value) pair or, failing that, a label it requires."""

    def __init__(self, entries: Iterable[tuple[LabelSelector, T]]):
        self._by_regex = {}
        self._by_pair: dict[Pair, list[tuple[Predicate, T]]] = defaultdict(list)
        self._by_key: dict[str, list[tuple[Predicate, T]]] = defaultdict(list)
        self._always: list[tuple[Predicate, T]] = []
        regexes: dict[str, list[str]] = defaultdict(list)
        self.size = 0
        for selector, item in entries:
            self.size += 1
            entry = (predicate(selector), item)
            pairs = _required_pairs(selector)
            required = _required_key(selector) if pairs is None else None
            for pair in pairs or ():
                self._by_pair[pair].append(entry)
            if required is not None:
                key, regex = required
                if regex is None:
                    self._by_key[key].append(entry)
                else:
                    regexes[key].append(regex)
                    self._by_regex.setdefault(key, (None, []))[1].append(entry)
            elif pairs is None:
                self._always.append(entry)
        for key, written in regexes.items():
            self._by_regex[key] = (_gate(written), self._by_regex[key][1])

    _by_regex: dict[str, tuple[Callable[[str], object] | None, list[tuple[Predicate, T]]]]
    """Label → the entries filed under a `Match` on it, behind one gate regex joining theirs."""

    def matching(self, labels: Mapping[str, str]) -> list[T]:
        found = [item for matches, item in self._always if matches(labels)] if self._always else []
        by_pair, by_key, by_regex = self._by_pair, self._by_key, self._by_regex
        for pair in labels.items():  # one walk of the labels for every kind of bucket
            bucket = by_pair.get(pair)
            if bucket:
                found += [item for matches, item in bucket if matches(labels)]
            if by_key:
                bucket = by_key.get(pair[0])
                if bucket:
                    found += [item for matches, item in bucket if matches(labels)]
            if by_regex and (gated := by_regex.get(pair[0])):
                gate, bucket = gated
                if gate is None or gate(pair[1]) is not None:
                    found += [item for matches, item in bucket if matches(labels)]
        return found


# ---- Routers -------------------------------------------------------------------------------------------------


@attrs.frozen
class CompiledRouter:
    router: Resource
    receivers: tuple[str, ...]
    """The receiver refs it names, resolved against the snapshot's receivers that can send."""

    @property
    def name(self) -> str:
        return self.router.name


class _Receivers:
    """The snapshot's sending receivers by name, by label pair and by tenant, to resolve Routers without scans."""

    def __init__(self, targets: Mapping[str, Target]):
        self.all = sorted(targets.values(), key=lambda t: t.receiver.ref)
        self.by_name: dict[str, list[Target]] = defaultdict(list)
        self.by_pair: dict[Pair, list[Target]] = defaultdict(list)
        self.by_tenant: dict[str, list[Target]] = defaultdict(list)
        for target in self.all:
            self.by_name[target.receiver.name].append(target)
            for pair in target.receiver.labels.items():
                self.by_pair[pair].append(target)
            if target.tenant:
                self.by_tenant[target.tenant].append(target)

    def named_by(self, spec: v2beta2.ReceiverSelector) -> list[str]:
        wanted = spec.type.lower()

        def of_type(target: Target, types: Sequence[str] = (wanted,) if wanted else ()) -> bool:
            return not types or target.channel.lower() in types

        found = [t for name in spec.name for t in self.by_name.get(name, ()) if of_type(t)]
        if spec.regex_name:
            regex = v2beta2.pattern(spec.regex_name)
            found += [t for t in self.all if regex.fullmatch(t.receiver.name) and of_type(t)]
        if spec.selector is not None:
            pairs = _required_pairs(spec.selector)
            pool = self.all if pairs is None else [t for pair in pairs for t in self.by_pair.get(pair, ())]
            found += [t for t in pool if spec.selector.matches(t.receiver.labels) and of_type(t)]
        for channel in spec.channels:
            types = tuple(kind.lower() for kind in channel.type)
            found += [t for t in self.by_tenant.get(channel.tenant, ()) if of_type(t, types)]
        return sorted({t.receiver.ref for t in found})


# ---- Silences ------------------------------------------------------------------------------------------------


@attrs.frozen
class SilenceState:
    active: bool
    until: float | None
    """When an active silence ends (None: never, or not active)."""
    changes_at: float
    """When `active` next changes (inf: never)."""


def _timestamp(text: str) -> float:
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def silence_state(spec: v2beta2.SilenceSpec, now: float) -> SilenceState:
    """Whether a Silence mutes at `now`, until when, and when that next changes."""
    if not spec.enabled:
        return SilenceState(False, None, math.inf)
    duration = v2beta2.parse_duration(spec.duration) if spec.duration is not None else None
    starts = _timestamp(spec.starts_at) if spec.starts_at else None
    if starts is not None and now < starts:
        return SilenceState(False, None, starts)
    if spec.schedule:
        assert duration is not None  # SilenceSpec requires one with a schedule
        return _scheduled(spec.schedule, zoneinfo.ZoneInfo(spec.time_zone), duration, now, starts)
    if starts is None or duration is None:
        return SilenceState(True, None, math.inf)
    end = starts + duration
    return SilenceState(True, end, end) if now < end else SilenceState(False, None, math.inf)


def _scheduled(schedule: str, zone: zoneinfo.ZoneInfo, duration: float, now: float,
               starts: float | None) -> SilenceState:
    """Active for `duration` after each cron tick (read in `zone`) at or after `starts`."""
    from croniter import croniter  # slow to import: only when a Silence has a schedule

    here = datetime.datetime.fromtimestamp(now, zone)
    ticks = croniter(schedule, here - datetime.timedelta(seconds=1))
    upcoming = ticks.get_next(float)
    last = upcoming if upcoming <= now else croniter(schedule, here).get_prev(float)
    if (starts is None or last >= starts) and now < last + duration:
        end, following = last + duration, croniter(schedule, datetime.datetime.fromtimestamp(last, zone))
        for _ in range(1000):  # overlapping windows (a duration longer than the interval) are one
            tick = following.get_next(float)
            if tick >= end:
                break
            end = tick + duration
        return SilenceState(True, end, end)
    return SilenceState(False, None, upcoming if upcoming > now else ticks.get_next(float))


@attrs.frozen
class Matched:
    """What one alert's labels select: the Routers, the global Silences, and per tenant one Silence of theirs."""

    routers: list[CompiledRouter]
    everyone: list[Resource]
    tenants: dict[str, Resource]


NOTHING = Matched([], [], {})
ROUTER, GLOBAL, TENANT = 0, 1, 2


@attrs.frozen
class InForce:
    """The Routers and the Silences active at one moment, in one index: an alert's labels are walked once."""

    index: SelectorIndex[tuple[int, Any]]
    """(ROUTER, CompiledRouter), (GLOBAL, Silence) or (TENANT, Silence), by selector."""
    until: Mapping[str, float | None]
    """Active Silence ref → when it ends (None: not scheduled to)."""

    def match(self, labels: Mapping[str, str]) -> Matched:
        found = self.index.matching(labels) if self.index.size else ()
        if not found:
            return NOTHING
        matched = Matched([], [], {})
        for kind, item in sorted(found, key=lambda f: (f[0], f[1].name)):
            if kind == ROUTER:
                matched.routers.append(item)
            elif kind == GLOBAL:
                matched.everyone.append(item)
            else:
                matched.tenants.setdefault(item.user, item)
        return matched


class Silences:
    """A snapshot's Silences (with its Routers); `at(now)` answers what is in force, recomputed only when a
    Silence starts or ends."""

    def __init__(self, silences: Iterable[Resource], routers: Sequence[CompiledRouter]):
        self.all = tuple(s for s in silences if s.scope in ("global", "tenant"))
        self._routers = routers
        self._valid_from, self._valid_until = math.inf, -math.inf
        self._in_force = self._build([], {})

    def _build(self, active: list[Resource], until: Mapping[str, float | None]) -> InForce:
        entries: list[tuple[LabelSelector, tuple[int, Any]]] = [
            (r.router.spec.alert_selector, (ROUTER, r)) for r in self._routers]
        entries += [(s.spec.matcher, (GLOBAL if s.scope == "global" else TENANT, s)) for s in active]
        return InForce(SelectorIndex(entries), until)

    def at(self, now: float) -> InForce:
        if not self.all or self._valid_from <= now < self._valid_until:
            return self._in_force
        states = {s.ref: silence_state(s.spec, now) for s in self.all}
        active = [s for s in self.all if states[s.ref].active]
        self._in_force = self._build(active, {s.ref: states[s.ref].until for s in active})
        self._valid_from, self._valid_until = now, min(state.changes_at for state in states.values())
        return self._in_force


def describe_until(until: float | None) -> str:
    if until is None:
        return "until it is deleted or disabled"
    return "until " + datetime.datetime.fromtimestamp(until, datetime.UTC).isoformat().replace("+00:00", "Z")


# ---- Both, per snapshot --------------------------------------------------------------------------------------


@attrs.frozen
class Rules:
    """What a snapshot's Routers, Silences and routePolicy say, compiled."""

    policy: str
    alert_selectors: Mapping[str, Predicate]
    """Receiver ref → its alertSelector, compiled (receivers without one are absent)."""
    router_list: tuple[CompiledRouter, ...]
    silences: Silences

    @property
    def empty(self) -> bool:
        """No Router, Silence, policy or alertSelector: tenancy alone decides."""
        return not self.router_list and not self.silences.all and self.policy == "All" and not self.alert_selectors

    @property
    def selective(self) -> bool:
        """Some Router, Silence or policy may change who gets an alert (alertSelectors aside)."""
        return bool(self.router_list or self.silences.all) or self.policy != "All"


def compile_rules(routers: Sequence[Resource], silences: Sequence[Resource], targets: Mapping[str, Target],
                  policy: str) -> Rules:
    receivers = _Receivers(targets)
    compiled = tuple(CompiledRouter(r, tuple(receivers.named_by(r.spec.receivers)))
                     for r in sorted(routers, key=lambda r: r.name) if r.spec.enabled)
    selectors = {ref: predicate(t.receiver.alert_selector) for ref, t in targets.items()
                 if t.receiver.alert_selector is not None}
    return Rules(policy, selectors, compiled, Silences(silences, compiled))


NO_RULES = Rules("All", {}, (), Silences((), ()))

