from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.static import serve

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("artsearch.accounts")),
    path("", include("recommender.urls")),
    # Media (artwork images) are served by Django itself: the app is meant to run as one
    # self-contained process; put a web server in front for production.
    path("media/<path:path>", serve, {"document_root": settings.MEDIA_ROOT}),
]

# PostgreSQL or Redis down: a short 503 (JSON under /api/), not a 500 traceback page.
handler500 = "recommender.errors.server_error"
