"""Driving the lead combobox (templates/_macros/lead_combobox.html) in a browser test, by keyboard."""

from playwright.sync_api import expect


def choose_lead(combobox, text: str, lead_id: int) -> None:
    """Type ``text`` into the combobox, arrow down to the lead's option and choose it with Enter."""
    page = combobox.page
    combobox.focus()
    combobox.fill("")
    page.keyboard.type(text)
    listbox = page.locator(f"#{combobox.get_attribute('aria-controls')}")
    option = listbox.locator(f"[role=option][data-value='{lead_id}']")
    expect(combobox).to_have_attribute("aria-expanded", "true")
    expect(option).to_be_visible()
    for _ in range(listbox.locator("[role=option]").count()):
        if option.get_attribute("aria-selected") == "true":
            break
        page.keyboard.press("ArrowDown")
    expect(option).to_have_attribute("aria-selected", "true")
    label = option.get_attribute("data-label")
    page.keyboard.press("Enter")
    expect(combobox).to_have_attribute("aria-expanded", "false")
    expect(combobox).to_have_value(label)
