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
# five more sentences each in English, German and Mandarin (8 per language: one file's peak is noisy)
espeak-ng -v en -w "$out/en4.wav" "My sister lives in a small house by the river, and every summer we swim there together."
espeak-ng -v en -w "$out/en5.wav" "The train was late again today, so I read a book while I waited on the cold platform."
espeak-ng -v en -w "$out/en6.wav" "If you open the window in the evening, you can hear the children playing in the park."
espeak-ng -v en -w "$out/en7.wav" "We need to finish the report by Friday, because the meeting with the client is on Monday."
espeak-ng -v en -w "$out/en8.wav" "He cooked a large dinner for all his friends and then played the guitar until midnight."
espeak-ng -v de -w "$out/de4.wav" "Meine Schwester wohnt in einem kleinen Haus am Fluss, und jeden Sommer schwimmen wir dort zusammen."
espeak-ng -v de -w "$out/de5.wav" "Der Zug hatte heute wieder Verspätung, also las ich ein Buch, während ich auf dem kalten Bahnsteig wartete."
espeak-ng -v de -w "$out/de6.wav" "Wenn du am Abend das Fenster öffnest, kannst du die Kinder im Park spielen hören."
espeak-ng -v de -w "$out/de7.wav" "Wir müssen den Bericht bis Freitag fertig machen, weil das Treffen mit dem Kunden am Montag ist."
espeak-ng -v de -w "$out/de8.wav" "Er kochte ein großes Abendessen für alle seine Freunde und spielte dann bis Mitternacht Gitarre."
espeak-ng -v cmn -w "$out/zh4.wav" "我姐姐住在河边的一个小房子里，每年夏天我们都一起在那里游泳。"
espeak-ng -v cmn -w "$out/zh5.wav" "今天火车又晚点了，所以我在寒冷的站台上等车的时候看了一本书。"
espeak-ng -v cmn -w "$out/zh6.wav" "如果你晚上打开窗户，就能听到孩子们在公园里玩耍。"
espeak-ng -v cmn -w "$out/zh7.wav" "我们必须在星期五之前完成报告，因为星期一要和客户开会。"
espeak-ng -v cmn -w "$out/zh8.wav" "他为所有的朋友做了一顿丰盛的晚餐，然后一直弹吉他到半夜。"
