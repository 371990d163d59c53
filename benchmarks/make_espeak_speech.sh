#!/bin/sh
# Test speech in several languages for benchmarks/language_coupling.py (needs espeak-ng: apt-get install espeak-ng).
#   sh benchmarks/make_espeak_speech.sh OUT_DIR && python3 benchmarks/language_coupling.py OUT_DIR/*.wav
set -e
out=${1:-lang}
mkdir -p "$out"
espeak-ng -v en -w "$out/en1.wav" "The weather was fine this morning, so we walked to the old market and bought some fresh bread."
espeak-ng -v en -w "$out/en2.wav" "Please call me when you arrive at the station, and I will pick you up in twenty minutes."
espeak-ng -v en -w "$out/en3.wav" "Our new results show that the model learns quickly, but it still makes a few simple mistakes."
espeak-ng -v de -w "$out/de1.wav" "Das Wetter war heute Morgen schön, also gingen wir zum alten Markt und kauften frisches Brot."
espeak-ng -v de -w "$out/de2.wav" "Bitte ruf mich an, wenn du am Bahnhof ankommst, dann hole ich dich in zwanzig Minuten ab."
espeak-ng -v de -w "$out/de3.wav" "Unsere neuen Ergebnisse zeigen, dass das Modell schnell lernt, aber noch einfache Fehler macht."
espeak-ng -v cmn -w "$out/zh1.wav" "今天早上天气很好，所以我们走到老市场，买了一些新鲜的面包。"
espeak-ng -v cmn -w "$out/zh2.wav" "你到车站的时候请给我打电话，我二十分钟以后去接你。"
espeak-ng -v cmn -w "$out/zh3.wav" "我们的新结果表明，这个模型学得很快，但是它还会犯一些简单的错误。"
espeak-ng -v fr -w "$out/fr1.wav" "Il faisait beau ce matin, alors nous sommes allés au vieux marché acheter du pain frais."
espeak-ng -v ja -w "$out/ja1.wav" "今朝は天気が良かったので、古い市場まで歩いて新しいパンを買いました。"
