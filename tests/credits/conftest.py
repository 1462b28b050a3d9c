"""The credit tests run on the courses tests' fixtures: an app with the article lesson type, make_course."""
from courses.conftest import app, make_course  # noqa: F401
