"""The quiz plugin's fixtures (a course with a teacher, quiz lessons, questions, a published exam), reused here."""
from plugins.quiz.tests.conftest import add_q, course, fixed_paper, make_lesson  # noqa: F401
from plugins.xapi.tests.conftest import lrs  # noqa: E402, F401
