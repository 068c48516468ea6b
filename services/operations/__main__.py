from services.operations.service import build

build().run()
