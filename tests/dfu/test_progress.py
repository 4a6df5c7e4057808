from particle_py.cli.dfu_util.progress import ProgressBar


def bar(clock_values):
    out = []
    times = iter(clock_values)
    return ProgressBar(out.append, clock=lambda: next(times)), out


def test_exact_repaints_and_done_line():
    pb, out = bar([100] * 4)
    pb.update("Erase   ", 0, 1)
    pb.update("Erase   ", 4096, 5000)
    pb.update("Erase   ", 5000, 5000)
    assert out == [
        "\rErase   \t[                         ]   0%            0 bytes",
        "\rErase   \t[====================     ]  81%         4096 bytes",
        "\rErase   \t[=========================] 100%         5000 bytes\nErase    done.\n",
    ]


def test_same_fill_skipped_only_within_the_same_second():
    pb, out = bar([7, 7, 8])
    pb.update("Upload", 1024, 0)      # unknown maximum: shown as 99%
    pb.update("Upload", 2048, 0)      # same fill, same second: skipped
    pb.update("Upload", 3072, 0)      # same fill, next second: repainted
    assert out == ["\rUpload\t[======================== ]  99%         1024 bytes",
                   "\rUpload\t[======================== ]  99%         3072 bytes"]


def test_zero_of_zero_is_zero_percent():
    pb, out = bar([1])
    pb.update("Download", 0, 0)
    assert out == ["\rDownload\t[                         ]   0%            0 bytes"]
