"""Which fields each part of a state machine may have, per the Amazon States Language."""

from __future__ import annotations

TYPES = ("Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")

TOP_FIELDS = frozenset({"StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"})
BRANCH_FIELDS = frozenset({"StartAt", "States", "Comment"})
PROCESSOR_FIELDS = BRANCH_FIELDS | {"ProcessorConfig"}

_COMMON = frozenset({"Type", "Comment", "QueryLanguage"})
_FLOW = frozenset({"Next", "End"})
_IO = frozenset({"InputPath", "OutputPath", "Output"})
_RESULT = frozenset({"Parameters", "ResultSelector", "ResultPath", "Arguments", "Assign", "Retry", "Catch"})

FIELDS: dict[str, frozenset[str]] = {
    "Pass": _COMMON | _FLOW | _IO | {"Parameters", "Result", "ResultPath", "Assign"},
    "Task": _COMMON | _FLOW | _IO | _RESULT
    | {"Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Credentials"},
    "Choice": _COMMON | _IO | {"Choices", "Default", "Assign"},
    "Wait": _COMMON | _FLOW | _IO | {"Seconds", "SecondsPath", "Timestamp", "TimestampPath", "Assign"},
    "Succeed": _COMMON | _IO,
    "Fail": _COMMON | {"Error", "ErrorPath", "Cause", "CausePath"},
    "Parallel": _COMMON | _FLOW | _IO | _RESULT | {"Branches"},
    "Map": _COMMON | _FLOW | _IO | _RESULT
    | {
        "Iterator", "ItemProcessor", "ItemsPath", "Items", "ItemSelector", "ItemReader", "ItemBatcher",
        "ResultWriter", "MaxConcurrency", "MaxConcurrencyPath", "ToleratedFailurePercentage",
        "ToleratedFailurePercentagePath", "ToleratedFailureCount", "ToleratedFailureCountPath", "Label",
    },
}  # fmt: skip

# Fields of one query language only (the JSONata forms of the *Path fields are {% %} expressions).
JSONPATH_ONLY = frozenset(
    {
        "InputPath", "Parameters", "ResultSelector", "ResultPath", "OutputPath", "ItemsPath",
        "TimeoutSecondsPath", "HeartbeatSecondsPath", "SecondsPath", "TimestampPath", "ErrorPath", "CausePath",
        "MaxConcurrencyPath", "ToleratedFailurePercentagePath", "ToleratedFailureCountPath",
    }
)  # fmt: skip
JSONATA_ONLY = frozenset({"Arguments", "Output", "Items"})

RETRIER_FIELDS = frozenset(
    {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy", "Comment"}
)
CATCHER_FIELDS = frozenset({"ErrorEquals", "Next", "ResultPath", "Comment", "Assign", "Output"})
JSONPATH_RULE_FIELDS = frozenset({"Variable", "Next", "Comment", "Assign"})
JSONATA_RULE_FIELDS = frozenset({"Condition", "Next", "Comment", "Assign", "Output"})
