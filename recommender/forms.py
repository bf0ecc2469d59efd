from __future__ import annotations

from django import forms
from django.conf import settings


class ImageQueryForm(forms.Form):
    image = forms.FileField(
        help_text="JPEG, PNG, WebP, GIF, BMP or TIFF; up to 20 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
    )

    def clean_image(self) -> bytes:
        f = self.cleaned_data["image"]
        if f.size > settings.ARTSEARCH_MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is {f.size / 1e6:.1f} MB; the limit is {settings.ARTSEARCH_MAX_UPLOAD_BYTES / 1e6:.0f} MB."
            )
        data = f.read()
        if not data:
            raise forms.ValidationError("The file is empty.")
        return data
