import textkit


def run(text):
    return {"slug": textkit.slugify(text), "textkit": textkit.VERSION}
