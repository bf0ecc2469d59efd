from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.functional import lazy

from ml.images import IMAGE_SUFFIXES
from recommender.curation import FIELD_MAX_CHARS
from recommender.middleware import megabytes
from recommender.review import NOTE_MAX_CHARS


def _limit_text() -> str:
    return f"JPEG, PNG, WebP, GIF, BMP or TIFF; up to {megabytes(settings.ARTSEARCH_MAX_UPLOAD_BYTES)}."


def _too_large(f: Any) -> str:
    """The size-limit message, in the same MB as the help text."""
    return f"{f.name} is {f.size / 2**20:.1f} MB; the limit is {megabytes(settings.ARTSEARCH_MAX_UPLOAD_BYTES)}."


def _char(name: str, **kwargs: Any) -> forms.CharField:
    """A metadata field as long as the model's column (curation.FIELD_MAX_CHARS, which reads the
    models: the forms, the bulk manifest check and the importers agree on what fits)."""
    return forms.CharField(max_length=FIELD_MAX_CHARS[name], **kwargs)


class ImageQueryForm(forms.Form):
    image = forms.FileField(
        help_text=lazy(_limit_text, str)(),
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
    )

    def clean_image(self) -> bytes:
        f = self.cleaned_data["image"]
        if f.size > settings.ARTSEARCH_MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_too_large(f))
        data = f.read()
        if not data:
            raise forms.ValidationError("The file is empty.")
        return data


def _check_upload(f: Any) -> None:
    if f.size > settings.ARTSEARCH_MAX_UPLOAD_BYTES:
        raise forms.ValidationError(_too_large(f))
    if not f.name.lower().endswith(IMAGE_SUFFIXES):
        raise forms.ValidationError(f"{f.name}: allowed formats are {', '.join(IMAGE_SUFFIXES)}.")


class ArtworkUploadForm(forms.Form):
    image = forms.FileField(widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
                            help_text=lazy(_limit_text, str)())
    artist = _char("artist", required=False,
                   help_text="As in the catalogue, e.g. 'ANGELICO, Fra'; a new name creates an artist.")
    title = _char("title")
    date = _char("date", required=False)
    technique = _char("technique", required=False)
    location = _char("location", required=False)
    form = _char("form", required=False, label="Form", help_text="painting, sculpture, …")
    type = _char("type", required=False, help_text="religious, portrait, landscape, …")
    school = _char("school", required=False)
    timeframe = _char("timeframe", required=False, help_text="e.g. 1501-1550")
    caption = _char("caption", widget=forms.Textarea(attrs={"rows": 3}), required=False,
                    help_text="A description in your own words (used by text search).")

    def clean_image(self) -> Any:
        f = self.cleaned_data["image"]
        _check_upload(f)
        return f


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Django's documented pattern for an <input type=file multiple>."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*,.zip"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        items = data if isinstance(data, (list, tuple)) else [data]
        return [super(MultipleFileField, self).clean(d, initial) for d in items]


class BulkUploadForm(forms.Form):
    files = MultipleFileField(
        help_text="Several images, or one .zip with the images and a manifest.csv "
        f"(columns: file, {', '.join(FIELD_MAX_CHARS)}). "
        "Everything is checked first: one bad file or manifest row and nothing is saved.",
    )


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("kept", "Keep as a new artwork"), ("duplicate", "Mark as duplicate"),
                                          ("withdrawn", "Withdraw the upload")])
    duplicate_of = forms.IntegerField(required=False)


class ReportDuplicateForm(forms.Form):
    other = forms.CharField(max_length=500, label="Duplicate of (artwork number or its address)")
    note = forms.CharField(max_length=NOTE_MAX_CHARS, required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_other(self) -> int:
        raw = self.cleaned_data["other"].strip().rstrip("/")
        tail = raw.rsplit("/", 1)[-1]
        if not tail.isdigit():
            raise forms.ValidationError("Give the other artwork's number or its page address.")
        return int(tail)


class ArtworkEditForm(forms.Form):
    artist = _char("artist", required=False)
    title = _char("title")
    date = _char("date", required=False)
    technique = _char("technique", required=False)
    location = _char("location", required=False)
    form = _char("form", required=False, label="Form")
    type = _char("type", required=False)
    school = _char("school", required=False)
    timeframe = _char("timeframe", required=False)
    caption = _char("caption", widget=forms.Textarea(attrs={"rows": 3}), required=False,
                    help_text="Curator description (used by text search).")
