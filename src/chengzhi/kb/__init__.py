"""The knowledge base (知识库) of direct answers (直接办结): answers the centre maintains to the
inquiries (咨询) residents ask again and again, matched against an appeal's text so that the
operator can answer on the spot and close the case. See docs/knowledge-base.md."""
