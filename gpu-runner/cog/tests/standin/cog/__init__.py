"""
A STAND-IN for the `cog` package, for tests on machines where Cog cannot be installed (this one). It is not Cog: it
offers only the small part of Cog's predictor API that gpu-runner/cog/predict.py uses, with Cog's semantics as its
documentation states them (github.com/replicate/cog, docs/python.md):

- `BasePredictor`: `setup()` runs once (optionally given `weights`), `predict(**inputs)` once per prediction;
- `Input(...)`: declares an input's description, default and constraints; an input without a default is required;
- `Path`: a `pathlib.Path` (output files, which the server uploads and answers with URLs);
- `BaseModel`: an output object with annotated fields;
- `CancelationException`: raised inside a sync `predict()` when its prediction is cancelled (a BaseException, so
  `except Exception` does not swallow it).

`run_prediction` calls a predictor the way Cog's server does: inputs validated and defaulted from the signature.
"""

import inspect
import pathlib
import typing

__all__ = ["BaseModel", "BasePredictor", "CancelationException", "Input", "Path", "run_prediction"]


class CancelationException(BaseException):
    pass


class Path(pathlib.PosixPath):
    pass


_MISSING = object()


class _Input:
    def __init__(self, default=_MISSING, description=None, ge=None, le=None, min_length=None, max_length=None,
                 regex=None, choices=None, deprecated=None):
        self.default, self.description = default, description
        self.ge, self.le, self.min_length, self.max_length = ge, le, min_length, max_length
        self.regex, self.choices = regex, choices


def Input(default=_MISSING, **kwargs):  # noqa: N802 (Cog's name)
    return _Input(default, **kwargs)


class BaseModel:
    def __init__(self, **fields):
        hints = typing.get_type_hints(type(self))
        missing = [k for k in hints if k not in fields]
        unknown = [k for k in fields if k not in hints]
        if missing or unknown:
            raise TypeError(f"{type(self).__name__}: missing {missing}, unknown {unknown}")
        for k, v in fields.items():
            setattr(self, k, v)

    def dict(self):
        return {k: getattr(self, k) for k in typing.get_type_hints(type(self))}


class BasePredictor:
    def setup(self, weights=None):
        pass

    def predict(self, **kwargs):
        raise NotImplementedError


_TYPES = {str: str, int: int, float: (int, float), bool: bool}


def run_prediction(predictor: BasePredictor, inputs: dict):
    """Validates `inputs` against predict()'s signature (types, required, defaults, constraints), then calls it."""
    sig = inspect.signature(predictor.predict)
    hints = typing.get_type_hints(predictor.predict)
    unknown = set(inputs) - set(sig.parameters)
    if unknown:
        raise ValueError(f"unknown inputs: {sorted(unknown)}")
    args = {}
    for name, param in sig.parameters.items():
        spec = param.default if isinstance(param.default, _Input) else _Input(param.default if param.default is not inspect.Parameter.empty else _MISSING)
        if name in inputs:
            value = inputs[name]
        elif spec.default is not _MISSING:
            value = spec.default
        else:
            raise ValueError(f"{name}: required")
        want = _TYPES.get(hints.get(name))
        if want and value is not None and not isinstance(value, want):
            raise ValueError(f"{name}: must be {hints[name].__name__}")
        if spec.choices is not None and value not in spec.choices:
            raise ValueError(f"{name}: must be one of {spec.choices}")
        if isinstance(value, str):
            if spec.min_length is not None and len(value) < spec.min_length:
                raise ValueError(f"{name}: too short")
            if spec.max_length is not None and len(value) > spec.max_length:
                raise ValueError(f"{name}: too long")
        args[name] = value
    return predictor.predict(**args)
