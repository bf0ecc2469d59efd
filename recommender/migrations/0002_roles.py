"""The two roles beyond anonymous visitors, as auth groups with their permissions."""

from django.db import migrations

ROLES = {
    "curators": ["add_artwork", "change_artwork", "add_artworkimage", "change_artworkimage", "add_upload",
                 "change_upload", "view_upload"],
    "staff": ["view_duplicatepair", "change_duplicatepair", "view_auditlog", "change_artwork", "view_upload"],
}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="recommender",
                                                         codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [("recommender", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length"),
                    ("contenttypes", "0002_remove_content_type_name")]
    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
