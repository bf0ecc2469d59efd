from django.contrib import admin

from recommender.models import Artist, Artwork, ArtworkImage, DuplicatePair


@admin.register(Artist)
class ArtistAdmin(admin.ModelAdmin):
    search_fields = ["name"]
    list_display = ["name", "born_died"]


class ArtworkImageInline(admin.TabularInline):
    model = ArtworkImage
    extra = 0
    fields = ["file", "source_name", "width", "height", "status", "model_version", "n_keypoints"]
    readonly_fields = ["source_name", "width", "height", "status", "model_version", "n_keypoints"]


@admin.register(Artwork)
class ArtworkAdmin(admin.ModelAdmin):
    search_fields = ["title", "artist__name", "url"]
    list_display = ["title", "artist", "form", "type", "school", "timeframe", "source"]
    list_filter = ["form", "type", "source", "timeframe"]
    autocomplete_fields = ["artist"]
    inlines = [ArtworkImageInline]


@admin.register(ArtworkImage)
class ArtworkImageAdmin(admin.ModelAdmin):
    list_display = ["source_name", "artwork", "status", "model_version", "n_keypoints", "indexed_at"]
    list_filter = ["status", "model_version"]
    search_fields = ["source_name", "artwork__title", "sha256"]
    raw_id_fields = ["artwork"]
    exclude = ["embedding", "keypoints"]
    readonly_fields = [
        "sha256", "width", "height", "model_version", "n_keypoints", "predictions", "indexed_at", "error",
    ]


@admin.register(DuplicatePair)
class DuplicatePairAdmin(admin.ModelAdmin):
    list_display = ["image_a", "image_b", "verdict", "status", "cosine", "inliers", "created_at"]
    list_filter = ["verdict", "status"]
    raw_id_fields = ["image_a", "image_b"]
