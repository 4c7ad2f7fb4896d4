import pytest

from .photos import write_corpus


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    write_corpus(root)
    return root
