from django.urls import path

from recommender import api, curation_views, views

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("artworks/<int:pk>/", views.artwork_detail, name="artwork_detail"),
    path("artists/<int:pk>/", views.artist_detail, name="artist_detail"),
    path("indexing/", views.indexing_status, name="indexing_status"),
    path("search/image/", views.search_image, name="search_image"),
    path("search/", views.search_text, name="search_text"),
    path("api/v1/search/text", api.search_text, name="api_search_text"),
    path("api/v1/search/image", api.search_image, name="api_search_image"),
    path("artworks/<int:pk>/report-duplicate/", curation_views.report_duplicate, name="report_duplicate"),
    path("artworks/<int:pk>/edit/", curation_views.artwork_edit, name="artwork_edit"),
    path("upload/", curation_views.upload_new, name="upload_new"),
    path("upload/bulk/", curation_views.upload_bulk, name="upload_bulk"),
    path("upload/batch/<str:batch>/", curation_views.upload_batch, name="upload_batch"),
    path("uploads/<int:pk>/", curation_views.upload_status, name="upload_status"),
    path("uploads/<int:pk>/retry/", curation_views.upload_retry, name="upload_retry"),
    path("uploads/<int:pk>/decide/", curation_views.upload_decide, name="upload_decide"),
    path("review/", curation_views.review_queue, name="review_queue"),
    path("review/<int:pk>/", curation_views.review_pair, name="review_pair"),
    path("review/audit/", curation_views.audit_log, name="audit_log"),
    path("healthz", views.healthz, name="healthz"),
]
