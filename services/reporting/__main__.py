from services.reporting.service import build

build().run()
