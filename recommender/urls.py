from django.urls import path

from recommender import views

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("artworks/<int:pk>/", views.artwork_detail, name="artwork_detail"),
    path("artists/<int:pk>/", views.artist_detail, name="artist_detail"),
    path("indexing/", views.indexing_status, name="indexing_status"),
    path("healthz", views.healthz, name="healthz"),
]
