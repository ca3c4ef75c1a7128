"""Languages for messages: the words and phrases templates translate, English and zh-cn built in, more from packs.

A language pack is the Go original's format, a YAML list in a ConfigMap value:

    - name: zh-cn
      dictionary:
        alert: 告警
        namespace: 项目

Keys are matched lowercased. A word missing from the chosen language falls back to the English built-in, then to
the word itself, so a partial pack never shows a blank. Phrases may hold `{placeholders}` (`"{count} alerts"`),
filled by `translate("{count} alerts", count=3)`; values are substituted as plain text, never formatted.
"""

from collections.abc import Mapping

import attrs
import yaml

ENGLISH = "english"

_ALIASES = {"": ENGLISH, "en": ENGLISH, "en-us": ENGLISH, "en-gb": ENGLISH, "zh": "zh-cn", "zh-hans": "zh-cn"}

BUILTIN: Mapping[str, Mapping[str, str]] = {
    ENGLISH: {
        "firing": "FIRING",
        "resolved": "RESOLVED",
        "test": "TEST",
        "subject.namespace": " in {namespace}",
        "subject.count": " ({count} alerts)",
        "subject.mixed": " ({firing} firing, {resolved} resolved)",
        "subject.test": "[TEST] nmcore test notification for {receiver}",
        "since": "since",
        "ended": "ended",
        "source": "Source",
        "silence": "Silence",
        "runbook": "Runbook",
        "alertmanager": "Open Alertmanager",
        "labels": "Labels",
    },
    "zh-cn": {
        "firing": "告警中",
        "resolved": "已恢复",
        "test": "测试",
        "alert": "告警",
        "alerts": "告警",
        "subject.namespace": "（项目 {namespace}）",
        "subject.count": "（{count} 条告警）",
        "subject.mixed": "（{firing} 条告警中，{resolved} 条已恢复）",
        "subject.test": "[测试] nmcore 发给 {receiver} 的测试通知",
        "since": "开始于",
        "ended": "结束于",
        "source": "查看来源",
        "silence": "静默此告警",
        "runbook": "处理手册",
        "alertmanager": "打开 Alertmanager",
        "labels": "标签",
        "alertname": "告警名称",
        "alerttype": "告警类型",
        "cluster": "集群",
        "namespace": "项目",
        "severity": "级别",
        "container": "容器",
        "pod": "容器组",
        "node": "节点",
        "instance": "实例",
        "job": "采集任务",
        "service": "服务",
        "deployment": "部署",
        "statefulset": "有状态副本集",
        "daemonset": "守护进程集",
        "workload": "工作负载",
        "host_ip": "主机地址",
        "prometheus": "Prometheus 实例",
        "receiver": "接收者",
        "summary": "摘要",
        "description": "详情",
        "message": "消息",
        "runbook_url": "处理手册",
        "critical": "严重",
        "warning": "警告",
        "info": "提示",
    },
}


def normalize(language: str) -> str:
    """`zh-CN`, `zh_cn` → `zh-cn`; `English`, `en` or nothing → `english` (the Go original's default name)."""
    name = language.strip().lower().replace("_", "-")
    return _ALIASES.get(name, name)


def is_chinese(language: str) -> bool:
    return normalize(language).startswith("zh")


class LanguagePackError(ValueError):
    """A language pack that is not a list of {name, dictionary} entries of text."""


def parse_pack(text: str) -> dict[str, dict[str, str]]:
    """Language name → its dictionary, from one ConfigMap value in the Go original's format."""
    try:
        entries = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise LanguagePackError(f"not YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(entries, list):
        raise LanguagePackError("expected a list of {name, dictionary} entries")
    packs: dict[str, dict[str, str]] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
            raise LanguagePackError(f"[{index}]: each entry needs a name (e.g. zh-cn)")
        words = entry.get("dictionary") or {}
        if not isinstance(words, Mapping):
            raise LanguagePackError(f"[{index}].dictionary: expected a mapping of word: translation")
        bad = [str(k) for k, v in words.items() if not isinstance(v, str | int | float) or isinstance(v, bool)]
        if bad:
            raise LanguagePackError(f"[{index}].dictionary.{bad[0]}: expected text")
        packs.setdefault(normalize(entry["name"]), {}).update({str(k).lower(): str(v) for k, v in words.items()})
    return packs


@attrs.frozen
class Dictionaries:
    """Every known language's words: the built-in ones overlaid with the operator's packs."""

    languages: Mapping[str, Mapping[str, str]] = BUILTIN

    def with_packs(self, packs: Mapping[str, Mapping[str, str]]) -> "Dictionaries":
        merged = {name: dict(words) for name, words in self.languages.items()}
        for name, words in packs.items():
            merged.setdefault(name, {}).update(words)
        return Dictionaries(merged)

    def translate(self, language: str, key: str, **values: object) -> str:
        word = str(key)
        lowered = word.lower()
        chosen = self.languages.get(normalize(language), {})
        text = chosen.get(lowered) or self.languages.get(ENGLISH, {}).get(lowered) or word
        for name, value in values.items():
            text = text.replace("{" + name + "}", str(value))
        return text

    def known(self, language: str) -> bool:
        return normalize(language) in self.languages


BUILTIN_DICTIONARIES = Dictionaries()
