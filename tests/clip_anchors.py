"""People in the shared walkers' clip, located by eye (shared by the video and page tests)."""

# Face centres (x, y) in pixels of ../shared/media/facenet_pytorch/video.mp4 (1920x1080),
# read off its frames: four people walking towards the camera; the woman with the
# scarf crosses in front of the boy in the hoodie around frames 20-30.
WALKERS = {
    "boy, ginger hair": {0: (703, 585), 10: (760, 603), 20: (721, 640), 30: (672, 634),
                         40: (656, 666), 50: (605, 681), 60: (567, 652), 70: (561, 658),
                         80: (491, 669), 90: (447, 639), 100: (437, 623)},
    "boy, blue hoodie": {0: (934, 675), 10: (968, 682), 20: (1008, 701), 30: (1008, 732),
                         40: (1040, 755), 50: (985, 763), 60: (949, 740), 70: (906, 704),
                         80: (835, 703), 90: (806, 713), 100: (771, 727)},
    "woman, white hair": {10: (321, 714), 20: (313, 719), 30: (291, 716), 40: (268, 717),
                          50: (237, 722), 60: (238, 729), 70: (233, 719), 80: (230, 706),
                          90: (249, 719)},
    "woman, scarf": {0: (349, 775), 10: (710, 818), 20: (1071, 846), 30: (1462, 846)},
}  # fmt: skip

# More of that clip's people (tests/video/test_persons_shared.py says how they were found):
# face centres by frame index.
CURLY = {1: (881, 648), 104: (945, 705)}
GREY_SIDE_VIEW = {0: (1492, 560), 2: (1567, 576)}
WHITE_HAIRED_MAN = {0: (1102, 640), 57: (1112, 711), 100: (1138, 703)}
GLASSES = {50: (1158, 722), 100: (1202, 723)}
