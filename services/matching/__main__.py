from services.matching.service import build

build().run()
