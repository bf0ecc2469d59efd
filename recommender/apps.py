from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "recommender"
    verbose_name = "ArtSearch"

    def ready(self) -> None:
        from recommender import checks  # noqa: F401 - registers the settings check
