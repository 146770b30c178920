# jansson: the DAIS 2020 paper's own job, alone in the guest: paper-shell unpacks the jansson sources from a zip
# and compiles them with tcc (the image gets tcc, its headers and the zip: lab/lib/image.sh, ensure_paper_overlay).
PAPER_JOB=jansson paper-shell > /dev/console 2>&1 &
