"""The report's references in one registry. The text cites a work by its short form, author and year ("Wu & He
2018", through ``cite``); the References section lists, by first author, each work the report's text cites,
and a short form with no entry is an error (``cite``) or a failing test (``cited_in``/``uncited_forms``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ...train.inputs.datasets import REGISTRY


@dataclass(frozen=True)
class Ref:
    short: str   # as the text cites it: "Wu & He 2018"
    entry: str   # as the References section lists it (markdown)


REFERENCES: dict[str, Ref] = {
    "report": Ref("Lihua Xianxue n.d.", "Lihua Xianxue (梨花先雪, a pen name) (n.d.). *利用 Pytorch 构建与优化 AlexNet 深层卷积神经网络 "
                  "技术报告* [Building and optimizing the AlexNet deep CNN with PyTorch: a technical report]. Course "
                  "report, undated: \"the report\" throughout."),
    "alexnet": Ref("Krizhevsky et al. 2012", "Krizhevsky, A., Sutskever, I. & Hinton, G. E. (2012). ImageNet "
                   "classification with deep convolutional neural networks. *NeurIPS* 25, 1097–1105."),
    "cifar10": Ref("Krizhevsky 2009", "Krizhevsky, A. (2009). *Learning multiple layers of features from tiny "
                   "images.* Technical report, University of Toronto (CIFAR-10)."),
    "fashion": Ref("Xiao et al. 2017", "Xiao, H., Rasul, K. & Vollgraf, R. (2017). Fashion-MNIST: a novel image "
                   "dataset for benchmarking machine learning algorithms. arXiv:1708.07747."),
    "digits": Ref("Alpaydin & Kaynak 1998", "Alpaydin, E. & Kaynak, C. (1998). Optical recognition of handwritten "
                  "digits. UCI Machine Learning Repository (scikit-learn's digits)."),
    "bn": Ref("Ioffe & Szegedy 2015", "Ioffe, S. & Szegedy, C. (2015). Batch normalization: accelerating deep "
              "network training by reducing internal covariate shift. *ICML*, PMLR 37, 448–456."),
    "ln": Ref("Ba et al. 2016", "Ba, J. L., Kiros, J. R. & Hinton, G. E. (2016). Layer normalization. "
              "arXiv:1607.06450."),
    "gn": Ref("Wu & He 2018", "Wu, Y. & He, K. (2018). Group normalization. *ECCV*, 3–19."),
    "precise_bn": Ref("Wu & Johnson 2021", "Wu, Y. & Johnson, J. (2021). Rethinking \"batch\" in BatchNorm. "
                      "arXiv:2105.07576."),
    "goyal": Ref("Goyal et al. 2017", "Goyal, P., Dollár, P., Girshick, R., Noordhuis, P., Wesolowski, L., Kyrola, "
                 "A., Tulloch, A., Jia, Y. & He, K. (2017). Accurate, large minibatch SGD: training ImageNet in 1 "
                 "hour. arXiv:1706.02677."),
    "welch": Ref("Welch 1947", "Welch, B. L. (1947). The generalization of \"Student's\" problem when several "
                 "different population variances are involved. *Biometrika* 34, 28–35."),
    "dunn": Ref("Dunn 1961", "Dunn, O. J. (1961). Multiple comparisons among means. *J. Amer. Statist. Assoc.* 56, "
                "52–64 (the Bonferroni bound)."),
    "obf": Ref("O'Brien & Fleming 1979", "O'Brien, P. C. & Fleming, T. R. (1979). A multiple testing procedure for "
               "clinical trials. *Biometrics* 35, 549–556."),
    "bauer": Ref("Bauer & Köhne 1994", "Bauer, P. & Köhne, K. (1994). Evaluation of experiments with adaptive "
                 "interim analyses. *Biometrics* 50, 1029–1041."),
    "lehmacher": Ref("Lehmacher & Wassmer 1999", "Lehmacher, W. & Wassmer, G. (1999). Adaptive sample size "
                     "calculations in group sequential trials. *Biometrics* 55, 1286–1290."),
}

DATASETS = {k: d.cite for k, d in REGISTRY.items() if d.cite}   # dataset -> its reference, from the registry
# an author-year citation as the text writes it: "Holm 1979", "Wu & He 2018", "Goyal et al. 2017", "… n.d."
CITATION = re.compile(r"\b[A-Z][\w'’-]+(?: [A-Z][\w'’-]+)?(?: et al\.| & [A-Z][\w'’-]+)? (?:(?:19|20)\d\d\b(?!\.\d)|n\.d\.)")


def cite(key: str) -> str:
    """The short form the text cites ``key`` by; a key with no entry is an error."""
    if key not in REFERENCES:
        raise KeyError(f"no reference {key!r}; the registry holds {', '.join(REFERENCES)}")
    return REFERENCES[key].short


def cited_in(text: str) -> list[str]:
    """The keys of the works ``text`` cites, in the registry's order (a citation broken over lines counts)."""
    text = " ".join(text.split())
    return [k for k, r in REFERENCES.items() if r.short in text]


def uncited_forms(text: str) -> set[str]:
    """Author-year citations in ``text`` that no entry has: a work the text relies on with no reference."""
    known = {r.short for r in REFERENCES.values()}
    return {m for m in CITATION.findall(" ".join(text.split()))
            if m not in known and not any(m.endswith(k) or k.endswith(m) for k in known)}


def references_markdown(text: str) -> str:
    """The References section for a report whose text is ``text``: each work it cites, by its short form."""
    keys = sorted(cited_in(text), key=lambda k: REFERENCES[k].entry.lower())
    return "\n".join(f"- {REFERENCES[k].entry}" for k in keys) or "*No work is cited.*"


def references_html(text: str) -> str:
    """``references_markdown`` as the report sets it: a list in two columns (``style.REPORT_CSS``)."""
    items = [re.sub(r"\*(.+?)\*", r"<i>\1</i>", line[2:]) for line in references_markdown(text).splitlines()
             if line.startswith("- ")]
    return '<ul class="references">' + "".join(f"<li>{i}</li>" for i in items) + "</ul>" if items else \
        "<p><i>No work is cited.</i></p>"
