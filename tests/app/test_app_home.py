"""Home page and the shared sidebar (AppTest): device, offline models, a bad custom-model path."""

from helpers import app_test


def test_home_shows_device_and_models():
    at = app_test()
    assert not at.exception
    assert "xviz" in at.title[0].value
    info = " ".join(i.value for i in at.info)
    assert "CPU" in info or "GPU" in info
    table = at.dataframe[0].value
    assert "minilm-l6" in list(table["name"])
    # the shared sidebar offers the device override and the text model picker
    labels = [s.label for s in at.sidebar.selectbox]
    assert "Device" in labels and "Text model" in labels


def test_sidebar_custom_model_bad_path_gives_message():
    at = app_test()
    at.text_input(key="custom_model_path").input("/nonexistent/folder").run()
    at.button(key="custom_model_load").click().run()
    assert not at.exception
    assert any("Unknown model" in e.value for e in at.error)
