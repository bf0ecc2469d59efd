from django.urls import path

from recommender import api, views

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("artworks/<int:pk>/", views.artwork_detail, name="artwork_detail"),
    path("artists/<int:pk>/", views.artist_detail, name="artist_detail"),
    path("indexing/", views.indexing_status, name="indexing_status"),
    path("search/image/", views.search_image, name="search_image"),
    path("api/v1/search/image", api.search_image, name="api_search_image"),
    path("healthz", views.healthz, name="healthz"),
]
